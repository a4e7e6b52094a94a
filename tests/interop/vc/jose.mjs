// VC-JOSE with panva's jose: `verify` {jwt, jwk, typ} -> {verified, payload, header, error?}. The algorithm comes
// from the key (never from the token), and the header typ must equal `typ`.
import {importJWK, jwtVerify} from 'jose';
import {describe, main} from './io.mjs';

const ALGORITHMS = {'Ed25519': 'EdDSA', 'P-256': 'ES256', 'P-384': 'ES384'};

async function verify({jwt, jwk, typ}) {
  const alg = ALGORITHMS[jwk.crv];
  if(!alg) {
    throw new Error(`unsupported JWK curve ${JSON.stringify(jwk.crv)}`);
  }
  const key = await importJWK(jwk, alg);
  try {
    const {payload, protectedHeader} = await jwtVerify(jwt, key, {typ, algorithms: [alg]});
    return {verified: true, payload, header: protectedHeader};
  } catch(e) {
    return {verified: false, error: `${e.code ?? e.name}: ${describe(e)}`};
  }
}

await main({verify});
