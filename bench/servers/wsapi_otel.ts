// This library's server of wsapi.ts, instrumented with `instrument()` and no
// exporter (OTEL_DENO unset): what the instrumentation itself costs.
import { instrument } from "../../otel.ts";
import { serve } from "./_serve.ts";
import { benchApp } from "./wsapi.ts";

await serve(benchApp((app) => instrument(app)).fetch);
