// The credential broker's provider layer, which fetches upstream secrets: references, providers,
// resolver, local store.
export { CredentialError, expandReference, parseReference, printable } from './types.ts';
export type { CredentialErrorCode, ExpansionContext, ParsedRef, SecretProvider, SecretValue } from './types.ts';
export { SecretResolver } from './resolver.ts';
export type { ResolveOptions, SecretResolverOptions } from './resolver.ts';
export { VaultProvider } from './vault.ts';
export type { VaultAuth, VaultProviderOptions } from './vault.ts';
export { AwsSecretsManagerProvider } from './aws.ts';
export type { AwsSecretsManagerOptions } from './aws.ts';
export { OnePasswordProvider } from './onepassword.ts';
export type { OnePasswordOptions } from './onepassword.ts';
export { ExecProvider, splitCommandLine } from './exec.ts';
export type { ExecProviderOptions } from './exec.ts';
export { EnvProvider } from './env.ts';
export type { EnvProviderOptions } from './env.ts';
export { LocalProvider } from './local.ts';
export type { LocalProviderOptions } from './local.ts';
export { KEY_ENV, LocalSecretStore, generateKey, keyId, loadKey, parseKey, writeKeyFile } from './local-store.ts';
