/** SHA-256 of a text (as UTF-8), in hex: pins, argument hashes, policy revisions, approval bindings. */
import { hash } from 'node:crypto';

export function sha256(text: string): string {
  return hash('sha256', text);
}
