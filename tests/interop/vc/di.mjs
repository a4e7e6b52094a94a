// W3C Data Integrity with digitalbazaar's libraries: `verify` {credential, didDocuments?, statusLists?} ->
// {verified, error?} (didDocuments: {did:web DID: its DID document}, the only did:web DIDs it resolves;
// statusLists: {URL: status list credential}, the only lists a BitstringStatusListEntry may name);
// `issue` {credential, suite, keyPair: {publicKeyMultibase, secretKeyMultibase}} -> {credential}.
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {CRYPTOSUITES, KEYS, documentLoader, useDidDocuments, useStatusLists, verifyCredential} from './documents.mjs';
import {main} from './io.mjs';

async function issue({credential, suite, keyPair}) {
  const cryptosuite = CRYPTOSUITES[suite];
  if(!cryptosuite) {
    throw new Error(`unsupported suite ${JSON.stringify(suite)}`);
  }
  const {publicKeyMultibase, secretKeyMultibase} = keyPair;
  const controller = `did:key:${publicKeyMultibase}`;
  const key = await KEYS[suite].from({
    type: 'Multikey', id: `${controller}#${publicKeyMultibase}`, controller, publicKeyMultibase, secretKeyMultibase
  });
  const signer = new DataIntegrityProof({signer: key.signer(), cryptosuite});
  return {credential: await vc.issue({credential, suite: signer, documentLoader})};
}

async function verify({credential, didDocuments, statusLists}) {
  useDidDocuments(didDocuments);
  useStatusLists(statusLists);
  return verifyCredential(credential);
}

await main({verify, issue});
