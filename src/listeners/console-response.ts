/**
 * The console's answers: HTML pages and redirects with its security headers (a strict CSP without
 * scripts, no framing, no caching), and its stylesheet.
 */
import type { ServerResponse } from 'node:http';
import { CONSOLE_CSS } from '../console/css.ts';

function headers(formAction = "'self'"): Record<string, string> {
  return {
    'content-security-policy': `default-src 'none'; style-src 'self'; form-action ${formAction}; base-uri 'none'; frame-ancestors 'none'`,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
  };
}

export function send(
  res: ServerResponse,
  status: number,
  html: string,
  extra: Record<string, string | string[]> = {},
  formAction?: string,
): void {
  res.writeHead(status, {
    ...headers(formAction),
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    ...extra,
  });
  res.end(html);
}

export function redirect(res: ServerResponse, to: string, cookies: string[] = []): void {
  res.writeHead(303, {
    ...headers(),
    location: to,
    'content-length': 0,
    ...(cookies.length ? { 'set-cookie': cookies } : {}),
  });
  res.end();
}

export function sendCss(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/css; charset=utf-8',
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(CONSOLE_CSS),
  });
  res.end(CONSOLE_CSS);
}
