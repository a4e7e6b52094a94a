// The offline JSON-LD document loader and the Data Integrity suites shared by di.mjs and bench-di.mjs.
//
// Contexts come only from xid's bundled copies (vc/contexts/index.json maps each URL to a file); did:key DIDs and
// their key ids (Ed25519, P-256, P-384) are resolved locally by @digitalbazaar/did-method-key, and other DIDs (did:web)
// only from the DID documents a request hands over (`useDidDocuments`). Anything else throws: no network access.
import {readFileSync} from 'node:fs';
import {gunzipSync} from 'node:zlib';
import * as vc from '@digitalbazaar/vc';
import * as DidKey from '@digitalbazaar/did-method-key';
import * as EcdsaMultikey from '@digitalbazaar/ecdsa-multikey';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as ecdsaRdfc2019} from '@digitalbazaar/ecdsa-rdfc-2019-cryptosuite';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {createVerifyCryptosuite as eddsaJcs2022} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import {describe} from './io.mjs';

const CONTEXTS = new URL('../../../vc/contexts/', import.meta.url);
const read = name => JSON.parse(readFileSync(new URL(name, CONTEXTS), 'utf8'));
const contexts = new Map(Object.entries(read('index.json')).map(([url, file]) => [url, read(file)]));

const didKey = DidKey.driver();
didKey.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519Multikey.from});
didKey.use({multibaseMultikeyHeader: 'zDna', fromMultibase: EcdsaMultikey.from});
didKey.use({multibaseMultikeyHeader: 'z82L', fromMultibase: EcdsaMultikey.from});

// DID documents (e.g. a did:web issuer's did.json) handed over by the request, by DID.
const didDocuments = new Map();

export function useDidDocuments(documents = {}) {
  for(const [did, document] of Object.entries(documents)) {
    didDocuments.set(did, document);
  }
}

function fromDidDocument(url) {
  const [did] = url.split('#');
  const document = didDocuments.get(did);
  if(!url.includes('#')) {
    return document;
  }
  const method = (document.verificationMethod ?? []).find(m => m.id === url || `${did}${m.id}` === url);
  if(!method) {
    throw new Error(`offline document loader: ${url} is not a verification method of ${did}`);
  }
  // The Multikey libraries want a key object in the Multikey context (did/v1.1 defines the same terms).
  const context = method.type === 'Multikey' ? 'https://w3id.org/security/multikey/v1' : document['@context'];
  return {'@context': context, ...method};
}

export const CRYPTOSUITES = {'eddsa-rdfc-2022': eddsaRdfc2022, 'ecdsa-rdfc-2019': ecdsaRdfc2019};
export const KEYS = {'eddsa-rdfc-2022': Ed25519Multikey, 'ecdsa-rdfc-2019': EcdsaMultikey};

export async function documentLoader(url) {
  if(contexts.has(url)) {
    return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
  }
  if(url.startsWith('did:key:')) {
    return {contextUrl: null, documentUrl: url, document: await didKey.get({url})};
  }
  if(didDocuments.has(url.split('#')[0])) {
    return {contextUrl: null, documentUrl: url, document: fromDidDocument(url)};
  }
  throw new Error(`offline document loader: ${url} is neither a bundled context, a did:key nor a given DID document`);
}

const verifySuites = [...Object.values(CRYPTOSUITES), eddsaJcs2022()].map(
  cryptosuite => new DataIntegrityProof({cryptosuite}));

let statusLists = new Map();

// Status list credentials ({url: credential}) that BitstringStatusListEntry entries may name (no fetching).
export function useStatusLists(lists) {
  statusLists = new Map(Object.entries(lists ?? {}));
}

// Bitstring Status List check written here, independent of xid: the list must verify, come from the credential's
// issuer and have the entry's purpose; entry i is bit i of the GZIP-ed list, most significant bit first.
async function checkStatus({credential}) {
  for(const entry of [].concat(credential.credentialStatus)) {
    const fail = message => ({verified: false, error: new Error(message)});
    if(entry?.type !== 'BitstringStatusListEntry') {
      return fail(`unsupported status entry type ${JSON.stringify(entry?.type)}`);
    }
    const list = statusLists.get(entry.statusListCredential);
    if(!list) {
      return fail(`no status list ${entry.statusListCredential} was handed over`);
    }
    const listResult = await vc.verifyCredential({credential: list, suite: verifySuites, documentLoader});
    if(!listResult.verified) {
      return fail(`the status list ${entry.statusListCredential} does not verify`);
    }
    if(list.issuer !== credential.issuer || list.credentialSubject.statusPurpose !== entry.statusPurpose) {
      return fail('the status list is of another issuer or purpose');
    }
    const bits = gunzipSync(Buffer.from(list.credentialSubject.encodedList.slice(1), 'base64url'));
    const index = Number(entry.statusListIndex);
    if((bits[index >> 3] >> (7 - (index & 7))) & 1) {
      return fail(`the credential's ${entry.statusPurpose} status is set`);
    }
  }
  return {verified: true};
}

// {verified, error?} from @digitalbazaar/vc's verifyCredential (proofs, purpose, issuer, validity dates, and status
// from the lists handed to useStatusLists).
export async function verifyCredential(credential) {
  const result = await vc.verifyCredential({credential, suite: verifySuites, documentLoader, checkStatus});
  if(result.verified) {
    return {verified: true};
  }
  const statusError = result.statusResult?.error;
  const errors = [result.error, statusError, ...(result.results ?? []).map(r => r.error)].filter(Boolean);
  return {verified: false, error: errors.map(describe).join('; ') || 'not verified'};
}
