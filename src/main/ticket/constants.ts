/** Key IDs and lengths the join service asks the key service for (join-protocol.md §1). */
export const MEASUREMENT_SECRET_KEY_ID = 'measurementSecret';
export const MEASUREMENT_SECRET_LENGTH = 32;
export const STATE_DISK_KEY_LENGTH = 32;
export const SSH_CA_SEED_KEY_ID = 'ca_emergency_ssh';
export const SSH_CA_SEED_LENGTH = 32;
