import { createRapid7PlatformConnector } from '../connectors/rapid7-platform/connector';
import { connectorHandler } from './connector';

/**
 * Steps of `rapid7-platform` connections: lookup, getRecord and verify. The account is
 * switched off by a person (the API offers no disable), so this function never writes.
 * Bundled alone: it can read only Rapid7 Insight Platform secrets.
 */
export const handler = connectorHandler(createRapid7PlatformConnector);
