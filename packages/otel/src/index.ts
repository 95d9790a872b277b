export { ATTR } from "./attributes.js";
export {
  type EventSource,
  INSTRUMENTATION_NAME,
  instrument,
  type OtelOptions,
  otelListener,
} from "./instrument.js";
