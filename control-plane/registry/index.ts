export { ServiceRegistry, type RegistrySnapshot } from './service-registry.js';
export { validateRegistration, type Registration, type PortRegistration } from './registration.js';
export { RegistrationRefusedError, type RegistrationRefusal } from './errors.js';
