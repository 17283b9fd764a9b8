// AWS Secrets Manager provider: `aws-sm://<secret-id>[#<json-field>]`, through the real AWS SDK v3.
//
// The secret id is a name or an ARN. With `#field` the SecretString must be a JSON object and the field
// is returned (non-strings serialised); without it, the whole SecretString (or, for a binary secret,
// its base64). Region, endpoint (for tests and VPC endpoints) and credentials come from the config;
// without credentials the SDK's default chain applies (environment, shared files, instance role).
// The SDK is loaded lazily so a gateway without aws-sm:// references never pays for it.
import type { GetSecretValueCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CredentialError } from './types.ts';
import type { ParsedRef, SecretProvider, SecretValue } from './types.ts';
import {
  DEFAULT_CACHE_TTL_MS,
  DEFAULT_MAX_BYTES,
  DEFAULT_TIMEOUT_MS,
  checkBaseUrl,
  fieldToString,
  isObject,
} from './http.ts';

export interface AwsSecretsManagerOptions {
  region: string;
  /** override the service endpoint; https unless loopback */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  cacheTtlMs?: number;
  /** whole call including SDK retries (default 5 s) */
  timeoutMs?: number;
  /** cap on the secret string (default 1 MiB; Secrets Manager itself allows 64 KiB) */
  maxBytes?: number;
  /** SDK attempts, default 2 */
  maxAttempts?: number;
  now?: () => number;
}

const PROVIDER = 'aws-sm';

// AWS error types (the `__type` / err.name) that mean "these credentials may not do this".
const AUTH_ERRORS = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'CredentialsProviderError',
  'DecryptionFailure', // the caller may not use the KMS key
]);

export class AwsSecretsManagerProvider implements SecretProvider {
  readonly scheme = 'aws-sm';
  readonly #opts: AwsSecretsManagerOptions;
  readonly #now: () => number;
  #client:
    | Promise<{
        client: SecretsManagerClient;
        GetSecretValueCommand: typeof import('@aws-sdk/client-secrets-manager').GetSecretValueCommand;
      }>
    | undefined;

  constructor(opts: AwsSecretsManagerOptions) {
    if (opts.endpoint !== undefined) checkBaseUrl(opts.endpoint, PROVIDER);
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  async resolve(ref: ParsedRef, signal?: AbortSignal): Promise<SecretValue> {
    const { client, GetSecretValueCommand } = await this.#sdk();
    const timeoutMs = this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    let out: GetSecretValueCommandOutput;
    try {
      out = await client.send(new GetSecretValueCommand({ SecretId: ref.path }), {
        abortSignal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw this.#mapError(err, ref.raw, timeout.aborted ? timeoutMs : undefined);
    }
    let text: string;
    if (typeof out.SecretString === 'string') text = out.SecretString;
    else if (out.SecretBinary && !ref.field) text = Buffer.from(out.SecretBinary).toString('base64');
    else
      throw new CredentialError(
        'E_SECRET_NOT_FOUND',
        ref.field ? 'binary secret has no JSON fields' : 'secret has no value',
        { provider: PROVIDER, ref: ref.raw },
      );
    if (Buffer.byteLength(text) > (this.#opts.maxBytes ?? DEFAULT_MAX_BYTES)) {
      throw new CredentialError('E_PROVIDER_UNAVAILABLE', 'secret larger than the size cap', {
        provider: PROVIDER,
        ref: ref.raw,
      });
    }
    let value = text;
    if (ref.field !== undefined) {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        doc = undefined;
      }
      // The parse error is not chained: its message can quote the secret.
      if (!isObject(doc))
        throw new CredentialError('E_SECRET_NOT_FOUND', 'secret is not a JSON object, cannot select a field', {
          provider: PROVIDER,
          ref: ref.raw,
        });
      if (!Object.hasOwn(doc, ref.field) || doc[ref.field] === null)
        throw new CredentialError('E_SECRET_NOT_FOUND', 'field not found in secret', {
          provider: PROVIDER,
          ref: ref.raw,
        });
      value = fieldToString(doc[ref.field]);
    }
    const now = this.#now();
    return {
      value,
      fetchedAt: now,
      expiresAt: now + (this.#opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS),
      version: out.VersionId,
    };
  }

  async close(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    if (c) (await c.catch(() => undefined))?.client.destroy();
  }

  #sdk() {
    this.#client ??= import('@aws-sdk/client-secrets-manager').then((sdk) => {
      const o = this.#opts;
      const client = new sdk.SecretsManagerClient({
        region: o.region,
        endpoint: o.endpoint,
        credentials: o.credentials,
        maxAttempts: o.maxAttempts ?? 2,
        requestHandler: {
          connectionTimeout: o.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          requestTimeout: o.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        },
      });
      return { client, GetSecretValueCommand: sdk.GetSecretValueCommand };
    });
    return this.#client;
  }

  /** SDK errors by type name and HTTP status only: AWS messages are never copied. */
  #mapError(err: unknown, ref: string, timedOutAfter: number | undefined): CredentialError {
    const name = err instanceof Error ? err.name : '';
    const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
    const opts = { provider: PROVIDER, ref, status };
    if (timedOutAfter !== undefined)
      return new CredentialError('E_PROVIDER_UNAVAILABLE', `no answer within ${timedOutAfter} ms`, opts);
    if (name === 'ResourceNotFoundException')
      return new CredentialError('E_SECRET_NOT_FOUND', 'secret not found (ResourceNotFoundException)', opts);
    // A secret scheduled for deletion answers InvalidRequestException.
    if (name === 'InvalidRequestException')
      return new CredentialError('E_SECRET_NOT_FOUND', 'secret not readable (InvalidRequestException)', opts);
    if (name === 'InvalidParameterException')
      return new CredentialError('E_REF_INVALID', 'invalid secret id (InvalidParameterException)', opts);
    if (AUTH_ERRORS.has(name)) return new CredentialError('E_PROVIDER_AUTH', `access denied (${name})`, opts);
    const code = (err as { code?: unknown })?.code;
    return new CredentialError('E_PROVIDER_UNAVAILABLE', `request failed (${errorDetail(code, name)})`, opts);
  }
}

/** What a failure message may name: the error's code or type name when it looks like one, else `error`. */
function errorDetail(code: unknown, name: string): string {
  if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
  if (/^[A-Za-z]{2,60}$/.test(name)) return name;
  return 'error';
}
