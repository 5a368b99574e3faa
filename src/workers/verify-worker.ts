/**
 * Piscina worker entry: piscina calls the default export with each task.
 * Only the certificate checks and the variant registry load at start-up;
 * variant validators are imported on first use.
 */
import { verifyCertificate } from './verify-certificate.js';

export default verifyCertificate;
