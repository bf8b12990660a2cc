/** The schema of a header name wherever the configuration names one. */
import { z } from "zod";
import { HTTP_TOKEN } from "./http-token.ts";

/** A header name in configuration: a token, kept as written (header names compare without regard to case). */
export const HeaderName = z.string().regex(HTTP_TOKEN, "expected a header name");
