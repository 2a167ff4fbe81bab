export { CsrRefusedError, CaMaterialError, type CsrRefusal } from './errors.js';
export { checkCsr, checkCsrAsync, type ApprovedCsr } from './csr-check.js';
export { Issuer, BACKDATE_MS, type IssuerOptions, type IssuedCert, type ServingCertRequest } from './issue.js';
export { createCaHierarchy, DEFAULT_ROOT_TTL_MS, DEFAULT_ISSUING_TTL_MS, type CaHierarchyOptions } from './hierarchy.js';
export { validateCaMaterial, caLevels, type CaMaterial, type CaLevel, type CaLevelName } from './ca-material.js';
export { loadOrCreateCa, CA_FILES, type CaStoreOptions } from './ca-store.js';
