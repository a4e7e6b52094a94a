// The offline JSON-LD document loader and the Data Integrity suites shared by di.mjs and bench-di.mjs.
//
// Contexts come only from xid's bundled copies (vc/contexts/index.json maps each URL to a file); did:key DIDs and
// their key ids are resolved locally by @digitalbazaar/did-method-key; did:web DIDs only from the DID documents a
// request hands over (useDidDocuments). Anything else throws: no network access.
import {readFileSync} from 'node:fs';
import {gunzipSync} from 'node:zlib';
import * as vc from '@digitalbazaar/vc';
import * as DidKey from '@digitalbazaar/did-method-key';
import * as EcdsaMultikey from '@digitalbazaar/ecdsa-multikey';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as ecdsaRdfc2019} from '@digitalbazaar/ecdsa-rdfc-2019-cryptosuite';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {describe} from './io.mjs';

const CONTEXTS = new URL('../../../vc/contexts/', import.meta.url);
const read = name => JSON.parse(readFileSync(new URL(name, CONTEXTS), 'utf8'));
const contexts = new Map(Object.entries(read('index.json')).map(([url, file]) => [url, read(file)]));

const didKey = DidKey.driver();
didKey.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519Multikey.from});
didKey.use({multibaseMultikeyHeader: 'zDna', fromMultibase: EcdsaMultikey.from});

export const CRYPTOSUITES = {'eddsa-rdfc-2022': eddsaRdfc2022, 'ecdsa-rdfc-2019': ecdsaRdfc2019};
export const KEYS = {'eddsa-rdfc-2022': Ed25519Multikey, 'ecdsa-rdfc-2019': EcdsaMultikey};

let didDocuments = new Map();

// Serve these did:web documents ({did: document}) to the verifier, instead of fetching them.
export function useDidDocuments(documents) {
  didDocuments = new Map(Object.entries(documents ?? {}));
}

function didWebDocument(url) {
  const [did, fragment] = url.split('#');
  const document = didDocuments.get(did);
  if(!document) {
    return null;
  }
  if(fragment === undefined) {
    return document;
  }
  // a Multikey method framed on its own context, as did:key resolution gives it (the suites require that context)
  const method = (document.verificationMethod ?? []).find(m => m.id === url);
  return method ? {'@context': 'https://w3id.org/security/multikey/v1', ...method} : null;
}

export async function documentLoader(url) {
  if(contexts.has(url)) {
    return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
  }
  if(url.startsWith('did:web:')) {
    const document = didWebDocument(url);
    if(document) {
      return {contextUrl: null, documentUrl: url, document};
    }
  }
  if(url.startsWith('did:key:')) {
    return {contextUrl: null, documentUrl: url, document: await didKey.get({url})};
  }
  throw new Error(`offline document loader: ${url} is neither a bundled context nor a did:key`);
}

const verifySuites = Object.values(CRYPTOSUITES).map(cryptosuite => new DataIntegrityProof({cryptosuite}));

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
