/** Shared pieces of the configuration schema: names, environments, sizes. */
import { Type } from '@sinclair/typebox';

export const Name = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,47}$',
  description: 'Lowercase letters, digits, `_` and `-`; at most 48 characters.',
});

export const Env = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String(), {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, documented here
  description: 'Environment variables for the process. Values may use ${VAR} references.',
});

export const MiB = 1024 * 1024;
