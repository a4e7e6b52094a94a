// An OpenID4VCI issuer built on @openid4vc/openid4vci's Openid4vciIssuer and @openid4vc/oauth2's authorization and
// resource servers (pinned in package.json), issuing one SD-JWT VC made with @sd-jwt/sd-jwt-vc, on 127.0.0.1.
//
// stdin: {"txCode": "493536" | null, "claims": {...}, "vct": "https://..."}
// stdout, first line: {"url", "offer" (openid-credential-offer:// by reference), "offerByValue", "issuerJwk"}
// then it serves until killed; GET /_log returns every exchange (method, path, status, request and response bodies)
// and every error the library raised, so a test can assert the 1.0 shapes itself.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";

import { Oauth2AuthorizationServer, Oauth2ResourceServer, clientAuthenticationNone } from "@openid4vc/oauth2";
import { Openid4vciIssuer } from "@openid4vc/openid4vci";
import { setGlobalConfig } from "@openid4vc/utils";
import { ES256, digest, generateSalt } from "@sd-jwt/crypto-nodejs";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify } from "jose";

setGlobalConfig({ allowInsecureUrls: true }); // this issuer listens on http://127.0.0.1

const CONFIGURATION = "identity_sd_jwt";
const log = [];
const errors = [];

const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
const issuerPublicJwk = await exportJWK(publicKey);
const issuerPrivateJwk = await exportJWK(privateKey);

async function signJwt(signer, { header, payload }) {
  if (signer.method !== "jwk") throw new Error(`signer method ${signer.method} not supported`);
  const jwt = await new SignJWT(payload).setProtectedHeader(header).sign(privateKey);
  return { jwt, signerJwk: issuerPublicJwk };
}

async function verifyJwt(signer, { compact }) {
  let jwk = signer.publicJwk;
  if (!jwk && signer.method === "did" && signer.didUrl.startsWith("did:jwk:")) {
    jwk = JSON.parse(Buffer.from(signer.didUrl.slice(8).split("#")[0], "base64url").toString("utf8"));
  }
  if (!jwk) return { verified: false };
  try {
    await jwtVerify(compact, await importJWK(jwk, signer.alg), { currentDate: new Date() });
    return { verified: true, signerJwk: jwk };
  } catch {
    return { verified: false, signerJwk: jwk };
  }
}

const callbacks = {
  hash: (data, alg) => createHash(alg.replace("-", "").toLowerCase()).update(data).digest(),
  generateRandom: (size) => randomBytes(size),
  signJwt,
  verifyJwt,
  clientAuthentication: clientAuthenticationNone({ clientId: "anonymous" }),
  fetch,
};
const issuer = new Openid4vciIssuer({ callbacks });
const authorizationServer = new Oauth2AuthorizationServer({ callbacks });
const resourceServer = new Oauth2ResourceServer({ callbacks });

const input = JSON.parse(await new Promise((resolve) => {
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8") || "{}"));
}));
const txCode = input.txCode ?? null;
const preAuthorizedCode = randomUUID();
const nonces = new Map(); // c_nonce -> expiry
const accessTokens = new Set();
let redeemed = false;

const server = createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${server.address().port}`;
const did = `did:web:${encodeURIComponent(`127.0.0.1:${server.address().port}`)}`;
const kid = `${did}#key-1`;

const asMetadata = authorizationServer.createAuthorizationServerMetadata({
  issuer: url,
  token_endpoint: `${url}/token`,
  jwks_uri: `${url}/jwks`,
  "pre-authorized_grant_anonymous_access_supported": true,
});
const credentialIssuerMetadata = issuer.createCredentialIssuerMetadata({
  credential_issuer: url,
  credential_endpoint: `${url}/credential`,
  nonce_endpoint: `${url}/nonce`,
  notification_endpoint: `${url}/notification`,
  credential_configurations_supported: {
    [CONFIGURATION]: {
      format: "dc+sd-jwt",
      vct: input.vct,
      cryptographic_binding_methods_supported: ["jwk"],
      credential_signing_alg_values_supported: ["ES256"],
      proof_types_supported: { jwt: { proof_signing_alg_values_supported: ["ES256"] } },
    },
  },
});
const issuerMetadata = {
  originalDraftVersion: "V1",
  credentialIssuer: credentialIssuerMetadata,
  authorizationServers: [asMetadata],
  knownCredentialConfigurations: credentialIssuerMetadata.credential_configurations_supported,
};
const grants = {
  "urn:ietf:params:oauth:grant-type:pre-authorized_code": {
    "pre-authorized_code": preAuthorizedCode,
    ...(txCode ? { tx_code: { input_mode: "numeric", length: txCode.length, description: "sent by e-mail" } } : {}),
  },
};
const byReference = await issuer.createCredentialOffer({
  issuerMetadata, credentialConfigurationIds: [CONFIGURATION], grants, credentialOfferUri: `${url}/offer`,
});
const byValue = await issuer.createCredentialOffer({ issuerMetadata, credentialConfigurationIds: [CONFIGURATION], grants });

function requestLike(req, body) {
  return { method: req.method, url: `${url}${req.url}`, headers: new Headers(req.headers), body };
}

function oauthError(error) {
  const response = error?.errorResponse;
  if (response?.error) return [400, response];
  if (error?.wwwAuthenticateHeaders) return [401, { error: "invalid_token", error_description: String(error.message) }];
  return [400, { error: "invalid_request", error_description: String(error?.message ?? error) }];
}

async function sdJwtVc(holderJwk) {
  const signer = await ES256.getSigner(issuerPrivateJwk);
  const sdjwt = new SDJwtVcInstance({ hasher: digest, saltGenerator: generateSalt, signer, signAlg: "ES256" });
  const now = Math.floor(Date.now() / 1000);
  const payload = { ...input.claims, iss: url, vct: input.vct, iat: now, exp: now + 3600, cnf: { jwk: holderJwk } };
  const frame = { _sd: Object.keys(input.claims) };
  return sdjwt.issue(payload, frame, { header: { typ: "dc+sd-jwt", kid } });
}

async function handle(req, raw) {
  const path = req.url.split("?")[0];
  const contentType = req.headers["content-type"] ?? "";
  const form = contentType.includes("x-www-form-urlencoded") ? Object.fromEntries(new URLSearchParams(raw)) : null;
  const json = contentType.includes("application/json") && raw ? JSON.parse(raw) : null;
  if (req.method === "GET" && path === "/.well-known/openid-credential-issuer") return [200, credentialIssuerMetadata];
  if (req.method === "GET" && path === "/.well-known/oauth-authorization-server") return [200, asMetadata];
  if (req.method === "GET" && path === "/.well-known/jwt-vc-issuer") {
    return [200, { issuer: url, jwks: { keys: [{ ...issuerPublicJwk, kid }] } }];
  }
  if (req.method === "GET" && path === "/.well-known/did.json") {
    const method = { id: kid, type: "JsonWebKey", controller: did, publicKeyJwk: issuerPublicJwk };
    return [200, { "@context": ["https://www.w3.org/ns/did/v1"], id: did, verificationMethod: [method], assertionMethod: [kid] }];
  }
  if (req.method === "GET" && path === "/jwks") return [200, { keys: [issuerPublicJwk] }];
  if (req.method === "GET" && path === "/offer") return [200, byReference.credentialOfferObject];
  if (req.method === "GET" && path === "/_log") return [200, { log, errors }];
  if (req.method === "POST" && path === "/token") {
    const request = requestLike(req, form);
    const parsed = authorizationServer.parseAccessTokenRequest({ request, accessTokenRequest: form ?? {} });
    if (redeemed) return [400, { error: "invalid_grant", error_description: "the code was used" }];
    await authorizationServer.verifyPreAuthorizedCodeAccessTokenRequest({
      grant: parsed.grant, accessTokenRequest: parsed.accessTokenRequest, request, authorizationServerMetadata: asMetadata,
      expectedPreAuthorizedCode: preAuthorizedCode, expectedTxCode: txCode ?? undefined,
    });
    redeemed = true;
    const response = await authorizationServer.createAccessTokenResponse({
      audience: url, authorizationServer: url, expiresInSeconds: 300, subject: randomUUID(),
      signer: { method: "jwk", alg: "ES256", publicJwk: issuerPublicJwk },
    });
    accessTokens.add(response.access_token);
    return [200, response];
  }
  if (req.method === "POST" && path === "/nonce") {
    const cNonce = randomUUID();
    nonces.set(cNonce, new Date(Date.now() + 300_000));
    return [200, issuer.createNonceResponse({ cNonce, cNonceExpiresIn: 300 })];
  }
  if (req.method === "POST" && path === "/credential") {
    await resourceServer.verifyResourceRequest({
      request: requestLike(req, raw), resourceServer: url, authorizationServers: [asMetadata],
      allowedAuthenticationSchemes: ["Bearer"],
    });
    const credentialRequest = issuer.parseCredentialRequest({ issuerMetadata, credentialRequest: json ?? {} });
    const jwts = credentialRequest.proofs?.jwt ?? [];
    if (jwts.length !== 1) return [400, { error: "invalid_proof", error_description: "one proofs.jwt expected" }];
    const nonce = JSON.parse(Buffer.from(jwts[0].split(".")[1], "base64url").toString("utf8")).nonce;
    if (!nonces.has(nonce)) return [400, { error: "invalid_nonce", error_description: "unknown c_nonce" }];
    const verified = await issuer.verifyCredentialRequestJwtProof({
      issuerMetadata, jwt: jwts[0], expectedNonce: nonce, nonceExpiresAt: nonces.get(nonce),
    });
    nonces.delete(nonce);
    const holderJwk = verified.signer.publicJwk;
    const credential = await sdJwtVc(holderJwk);
    return [200, issuer.createCredentialResponse({
      credentialRequest, credentials: [{ credential }], notificationId: randomUUID(),
    })];
  }
  if (req.method === "POST" && path === "/notification") return [204, null];
  return [404, { error: "not_found" }];
}

server.on("request", (req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const raw = Buffer.concat(chunks).toString("utf8");
    let status, body;
    try {
      [status, body] = await handle(req, raw);
    } catch (error) {
      errors.push(String(error?.stack ?? error));
      [status, body] = oauthError(error);
    }
    if (!req.url.startsWith("/_log")) {
      log.push({
        method: req.method, path: req.url, contentType: req.headers["content-type"] ?? null,
        authorization: req.headers.authorization?.split(" ")[0] ?? null, request: raw || null, status, response: body,
      });
    }
    res.writeHead(status, body === null ? {} : { "content-type": "application/json", "cache-control": "no-store" });
    res.end(body === null ? undefined : JSON.stringify(body));
  });
});

process.stdout.write(JSON.stringify({
  url, offer: byReference.credentialOffer, offerByValue: byValue.credentialOffer, issuerJwk: issuerPublicJwk, kid,
}) + "\n");
