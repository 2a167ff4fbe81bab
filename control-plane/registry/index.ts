export { ServiceRegistry, type RegistrySnapshot } from './service-registry.js';
export { validateRegistration, type Registration, type PortRegistration } from './registration.js';
export { RegistrationRefusedError, type RegistrationRefusal } from './errors.js';
export { RegistryPersistence, workloadKey, RESTORE_GRACE_MS } from './persistence.js';
