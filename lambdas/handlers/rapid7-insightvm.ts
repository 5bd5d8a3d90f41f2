import { createRapid7InsightvmConnector } from '../connectors/rapid7-insightvm/connector';
import { connectorHandler } from './connector';

/**
 * Steps of `rapid7-insightvm` connections (the on-prem console). Bundled alone: this function
 * can read only InsightVM console secrets.
 */
export const handler = connectorHandler(createRapid7InsightvmConnector);
