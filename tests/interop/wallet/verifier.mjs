// An OpenID4VP verifier built on @openid4vc/openid4vp's Openid4vpVerifier (pinned in package.json) that asks for
// an SD-JWT VC claim with a DCQL query and validates the answer with @sd-jwt/sd-jwt-vc, on 127.0.0.1.
//
// stdin: {"prefix": "redirect_uri" | "x509_san_dns", "responseMode": "direct_post" | "direct_post.jwt",
//         "x5c": [base64 DER, leaf first] (x509_san_dns), "leafPrivateJwk" (x509_san_dns), "issuerJwk",
//         "vct", "claims": ["claim", ...]}
// stdout, first line: {"url", "request" (the openid4vp:// link), "clientId", "nonce"}
// then it serves until killed: GET /request (the signed request object), POST /response (the wallet's answer),
// GET /_log: {"log": [exchanges], "errors": [...], "results": [{"verified", "claims", "kb", "vpToken", ...}]}.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";

import { Openid4vpVerifier } from "@openid4vc/openid4vp";
import { setGlobalConfig } from "@openid4vc/utils";
import { ES256, digest } from "@sd-jwt/crypto-nodejs";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { SignJWT, compactDecrypt, exportJWK, generateKeyPair, importJWK } from "jose";

setGlobalConfig({ allowInsecureUrls: true }); // this verifier listens on http://127.0.0.1

const input = JSON.parse(await new Promise((resolve) => {
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
}));
const log = [];
const errors = [];
const results = [];

const encryption = await generateKeyPair("ECDH-ES", { crv: "P-256", extractable: true });
const encryptionJwk = { ...(await exportJWK(encryption.publicKey)), use: "enc", alg: "ECDH-ES", kid: "enc-1" };

async function signJwt(signer, { header, payload }) {
  if (signer.method !== "x5c") throw new Error(`signer method ${signer.method} not supported`);
  const key = await importJWK(input.leafPrivateJwk, "ES256");
  return { jwt: await new SignJWT(payload).setProtectedHeader(header).sign(key), signerJwk: null };
}

async function decryptJwe(jwe) {
  try {
    const { plaintext } = await compactDecrypt(jwe, encryption.privateKey);
    return { decrypted: true, decryptionJwk: encryptionJwk, payload: new TextDecoder().decode(plaintext) };
  } catch (error) {
    errors.push(`decrypt: ${error}`);
    return { decrypted: false };
  }
}

const verifier = new Openid4vpVerifier({
  callbacks: {
    hash: (data, alg) => createHash(alg.replace("-", "").toLowerCase()).update(data).digest(),
    signJwt,
    decryptJwe,
    verifyJwt: async () => ({ verified: false }),
    encryptJwe: async () => { throw new Error("not used"); },
    fetch,
  },
});

const server = createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${server.address().port}`;
const responseUri = `${url}/response`;
const clientId = input.prefix === "redirect_uri" ? `redirect_uri:${responseUri}` : "x509_san_dns:127.0.0.1";
const nonce = randomBytes(16).toString("base64url");
const state = randomUUID();
const dcqlQuery = {
  credentials: [{
    id: "identity",
    format: "dc+sd-jwt",
    meta: { vct_values: [input.vct] },
    claims: input.claims.map((name) => ({ path: [name] })),
  }],
};
const clientMetadata = {
  vp_formats_supported: { "dc+sd-jwt": { "sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"] } },
  ...(input.responseMode === "direct_post.jwt"
    ? { jwks: { keys: [encryptionJwk] }, encrypted_response_enc_values_supported: ["A128GCM"] }
    : {}),
};
const authorizationRequestPayload = {
  response_type: "vp_token",
  client_id: clientId,
  response_uri: responseUri,
  response_mode: input.responseMode,
  nonce,
  state,
  dcql_query: dcqlQuery,
  client_metadata: clientMetadata,
};
const created = await verifier.createOpenId4vpAuthorizationRequest({
  authorizationRequestPayload,
  ...(input.prefix === "x509_san_dns"
    ? {
      jar: {
        requestUri: `${url}/request`,
        jwtSigner: { method: "x5c", alg: "ES256", x5c: input.x5c },
        additionalJwtPayload: { aud: "https://self-issued.me/v2" }, // OpenID4VP 1.0 §5.8 (static discovery)
        expiresInSeconds: 300,
      },
    }
    : {}),
});
const requestJwt = created.jar?.authorizationRequestJwt ?? null;

async function verifyPresentation(presentation) {
  const sdjwt = new SDJwtVcInstance({
    hasher: digest,
    verifier: await ES256.getVerifier(input.issuerJwk),
    kbVerifier: async (data, signature, payload) => (await ES256.getVerifier(payload.cnf.jwk))(data, signature),
  });
  const verified = await sdjwt.verify(presentation, { keyBindingNonce: nonce, requiredClaimKeys: input.claims });
  return { claims: verified.payload, kb: verified.kb?.payload ?? null };
}

async function handle(req, raw) {
  const path = req.url.split("?")[0];
  if (req.method === "GET" && path === "/_log") return [200, { log, errors, results }];
  if (req.method === "GET" && path === "/request" && requestJwt) return [200, requestJwt, "application/oauth-authz-req+jwt"];
  if (req.method === "POST" && path === "/response") {
    const form = Object.fromEntries(new URLSearchParams(raw));
    const parsed = await verifier.parseOpenid4vpAuthorizationResponse({
      authorizationResponse: form, authorizationRequestPayload: created.authorizationRequestPayload,
      callbacks: { decryptJwe, verifyJwt: async () => ({ verified: false }) },
    });
    const payload = parsed.authorizationResponsePayload;
    const vpToken = typeof payload.vp_token === "string" ? JSON.parse(payload.vp_token) : payload.vp_token;
    const presentations = vpToken.identity;
    const result = { vpToken, state: payload.state ?? null, encrypted: Boolean(parsed.jarm), verified: false };
    results.push(result);
    if (!Array.isArray(presentations) || presentations.length !== 1) {
      return [400, { error: "invalid_request", error_description: "one presentation for 'identity' expected" }];
    }
    Object.assign(result, await verifyPresentation(presentations[0]));
    if (result.kb?.aud !== clientId) {
      return [400, { error: "invalid_request", error_description: "the KB-JWT aud is not the client_id" }];
    }
    result.verified = true;
    return [200, { redirect_uri: `https://rp.example/done#response_code=${randomUUID()}` }];
  }
  return [404, { error: "not_found" }];
}

server.on("request", (req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const raw = Buffer.concat(chunks).toString("utf8");
    let status, body, type = "application/json";
    try {
      [status, body, type = "application/json"] = await handle(req, raw);
    } catch (error) {
      errors.push(String(error?.stack ?? error));
      const response = error?.errorResponse;
      [status, body] = [400, response?.error ? response : { error: "invalid_request", error_description: String(error?.message ?? error) }];
    }
    if (!req.url.startsWith("/_log")) {
      log.push({ method: req.method, path: req.url, contentType: req.headers["content-type"] ?? null, request: raw || null, status });
    }
    res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
    res.end(typeof body === "string" ? body : JSON.stringify(body));
  });
});

process.stdout.write(JSON.stringify({ url, request: created.authorizationRequest, clientId, nonce }) + "\n");
