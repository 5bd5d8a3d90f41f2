import { createScimConnector } from '../connectors/scim/connector';
import { connectorHandler } from './connector';

/**
 * Steps of `scim`, `insightly-scim` and `gainsight-scim` connections: one SCIM connector,
 * the preset chosen from each connection's type. Bundled once per type, so each function
 * can read only the secrets of its own type.
 */
export const handler = connectorHandler(createScimConnector);
