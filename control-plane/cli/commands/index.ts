import type { Command } from '../command.js';
import { tokenCreate, tokenList, tokenRevoke } from './token.js';
import { caBundle } from './ca.js';
import { apply, del, get } from './policy.js';
import { proxyStatus } from './proxies.js';
import { x509Inspect } from './x509.js';
import { proxyConfigSecret } from './proxy-config.js';
import { tlsCheckCommand } from './tls-check.js';
import { analyzeCommand } from './analyze.js';

/** Every meshctl command, in the order `meshctl --help` lists them. */
export const COMMANDS: readonly Command[] = [apply, get, del, proxyStatus, tlsCheckCommand, analyzeCommand, proxyConfigSecret, tokenCreate, tokenRevoke, tokenList, caBundle, x509Inspect];
