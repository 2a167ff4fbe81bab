export { BootstrapTokens, type TokenView, type CreatedToken, type TokenRecord } from './bootstrap-tokens.js';
export { loadOrCreateAdminToken, adminTokenMatches, ADMIN_TOKEN_FILE, AdminTokenFileError } from './admin-token.js';
export { AuthError, TokenNotFoundError, type AuthFailure } from './errors.js';
export { authenticatePeerCertificate } from './peer-certificate.js';
