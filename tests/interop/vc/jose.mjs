// VC-JOSE with panva's jose:
// `verify` {jwt, jwk, typ, alg?} -> {verified, payload, header, error?}. The algorithm comes from the request or
// the key's curve (never from the token), and the header typ must equal `typ`.
// `sign` {payload, privateJwk, alg, typ} -> {jwt}: a JWT signed by jose (kid = the JWK's kid).
import {SignJWT, importJWK, jwtVerify} from 'jose';
import {describe, main} from './io.mjs';

const ALGORITHMS = {'Ed25519': 'EdDSA', 'P-256': 'ES256', 'P-384': 'ES384'};

function algorithmFor(jwk, alg) {
  const found = alg ?? ALGORITHMS[jwk.crv];
  if(!found) {
    throw new Error(`unsupported JWK curve ${JSON.stringify(jwk.crv)}`);
  }
  return found;
}

async function verify({jwt, jwk, typ, alg}) {
  const algorithm = algorithmFor(jwk, alg);
  const key = await importJWK(jwk, algorithm);
  try {
    const {payload, protectedHeader} = await jwtVerify(jwt, key, {typ, algorithms: [algorithm]});
    return {verified: true, payload, header: protectedHeader};
  } catch(e) {
    return {verified: false, error: `${e.code ?? e.name}: ${describe(e)}`};
  }
}

async function sign({payload, privateJwk, alg, typ}) {
  const algorithm = algorithmFor(privateJwk, alg);
  const key = await importJWK(privateJwk, algorithm);
  const header = {alg: algorithm, typ, ...(privateJwk.kid ? {kid: privateJwk.kid} : {})};
  return {jwt: await new SignJWT(payload).setProtectedHeader(header).sign(key)};
}

await main({verify, sign});
