// Built-in policy `set-backend-service` (APIM's set-backend-service): sends the request to another
// backend: `backend-id` names one of the configuration's backends, `base-url` gives a base URL
// (the request's path after the API prefix and its query are appended, as for any backend).
import { Backend, Config } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

let loaded = false;
let id: string | null = null;
let url: string | null = null;

export function on_request(): i32 {
  if (!loaded) {
    id = Config.get("backend-id");
    url = Config.get("base-url");
    if (id === null && url === null) unreachable();
    loaded = true;
  }
  if (id !== null) Backend.use(id!);
  else Backend.useUrl(url!);
  return 0;
}
