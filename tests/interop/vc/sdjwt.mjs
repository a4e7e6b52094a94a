// SD-JWT VC with @sd-jwt/sd-jwt-vc (hashing and salts from @sd-jwt/crypto-nodejs, signatures with node:crypto):
// `verify` {presentation, issuerJwk, nonce, aud, statusLists?} -> {verified, claims, error?} (statusLists:
// {uri: status list token}, the only lists a `status` claim may name; the library checks the token's signature);
// `issue` {claims, disclosureFrame, issuerPrivateJwk, holderPublicJwk, vct, iss, alg?} -> {sdJwt};
// `present` {sdJwt, presentationFrame, holderPrivateJwk, nonce, aud, alg?} -> {presentation}.
// `alg` names the JWS alg to write (e.g. RFC 9864's 'Ed25519'); by default the curve's usual name ('EdDSA').
import {createPrivateKey, createPublicKey, sign, verify as verifySignature} from 'node:crypto';
import {digest, generateSalt} from '@sd-jwt/crypto-nodejs';
import {SDJwtVcInstance} from '@sd-jwt/sd-jwt-vc';
import {describe, main} from './io.mjs';

const ALGORITHMS = {'Ed25519': ['EdDSA', null], 'P-256': ['ES256', 'sha256'], 'P-384': ['ES384', 'sha384']};

function algorithm(jwk) {
  const found = ALGORITHMS[jwk.crv];
  if(!found) {
    throw new Error(`unsupported JWK curve ${JSON.stringify(jwk.crv)}`);
  }
  return found;
}

// The library's Signer: (signing input) -> base64url signature (raw r||s for ECDSA).
function signerFor(privateJwk, requested) {
  const [usual, hash] = algorithm(privateJwk);
  const alg = requested ?? usual;
  const key = createPrivateKey({key: privateJwk, format: 'jwk'});
  const signer = async data => sign(hash, Buffer.from(data), {key, dsaEncoding: 'ieee-p1363'}).toString('base64url');
  return [signer, alg];
}

// The library's Verifier: (signing input, base64url signature) -> boolean.
function verifierFor(publicJwk) {
  const [, hash] = algorithm(publicJwk);
  const key = createPublicKey({key: publicJwk, format: 'jwk'});
  return async (data, signature) =>
    verifySignature(hash, Buffer.from(data), {key, dsaEncoding: 'ieee-p1363'}, Buffer.from(signature, 'base64url'));
}

async function verify({presentation, issuerJwk, nonce, aud, statusLists}) {
  const sdjwt = new SDJwtVcInstance({
    statusListFetcher: async uri => {
      if(!statusLists || !(uri in statusLists)) {
        throw new Error(`no status list ${uri} was handed over`);
      }
      return statusLists[uri];
    },
    hasher: digest,
    verifier: verifierFor(issuerJwk),
    kbVerifier: async (data, signature, payload) => {
      if(!payload?.cnf?.jwk) {
        throw new Error('the SD-JWT has no cnf.jwk for the key binding');
      }
      return verifierFor(payload.cnf.jwk)(data, signature);
    },
  });
  try {
    // A keyBindingNonce makes the KB-JWT mandatory; the library checks its signature, nonce and sd_hash.
    const result = await sdjwt.verify(presentation, {keyBindingNonce: nonce});
    if(result.kb?.payload?.aud !== aud) {
      return {verified: false, error: `KB-JWT aud ${JSON.stringify(result.kb?.payload?.aud)} is not ${aud}`};
    }
    return {verified: true, claims: result.payload, header: result.header, kb: result.kb};
  } catch(e) {
    return {verified: false, error: describe(e)};
  }
}

async function issue({claims, disclosureFrame, issuerPrivateJwk, holderPublicJwk, vct, iss, alg}) {
  const [signer, signAlg] = signerFor(issuerPrivateJwk, alg);
  const sdjwt = new SDJwtVcInstance({hasher: digest, saltGenerator: generateSalt, signer, signAlg});
  const payload = {...claims, iss, vct, iat: Math.floor(Date.now() / 1000), cnf: {jwk: holderPublicJwk}};
  const header = issuerPrivateJwk.kid ? {kid: issuerPrivateJwk.kid} : {};
  return {sdJwt: await sdjwt.issue(payload, disclosureFrame, {header})};
}

async function present({sdJwt, presentationFrame, holderPrivateJwk, nonce, aud, alg}) {
  const [kbSigner, kbSignAlg] = signerFor(holderPrivateJwk, alg);
  const sdjwt = new SDJwtVcInstance({hasher: digest, kbSigner, kbSignAlg});
  const kb = {payload: {iat: Math.floor(Date.now() / 1000), aud, nonce}};
  return {presentation: await sdjwt.present(sdJwt, presentationFrame, {kb})};
}

await main({verify, issue, present});
