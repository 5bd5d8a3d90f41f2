import { createGainsightConnector } from '../connectors/gainsight/connector';
import { connectorHandler } from './connector';

/** Steps of `gainsight` connections. Bundled alone: this function can read only Gainsight secrets. */
export const handler = connectorHandler(createGainsightConnector);
