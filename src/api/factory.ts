import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { validationError } from "./problem";

/** Every router is made here, so the Env type and the validation error shape are spelled once. */
export function newRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target === "json" ? "body" : result.target);
    },
  });
}

export type Router = ReturnType<typeof newRouter>;
