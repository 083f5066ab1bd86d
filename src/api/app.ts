import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { AppError } from "../errors";
import type { AppEnv } from "../env";
import { agentsRouter } from "./agents";
import { executeRouter, modelsRouter } from "./execute";
import { runsRouter } from "./runs";
import { deadLettersRouter } from "./dead-letters";
import { messagesRouter } from "./messages";
import { topicsRouter } from "./topics";
import { evolutionRouter } from "./evolution";
import { awsRouter } from "./aws";
import { RESTORE_PATH, backupRouter } from "./backup";
import { suitesRouter } from "./suites";
import { docsPage } from "./docs";
import { healthRouter } from "./health";
import { keysRouter } from "./keys";
import { squadsRouter } from "./squads";
import { workflowsRouter } from "./workflows";
import { authenticate, publicRoute } from "./middleware/access";
import { limitJsonDepth } from "./middleware/json-depth";
import { observe } from "./middleware/observe";
import { metricsRouter } from "./metrics";
import { streamRouter } from "./stream";
import { rateLimit } from "./middleware/rate-limit";
import { problemResponse, renderError } from "./problem";

/** Largest request body the API reads. */
export const MAX_BODY_BYTES = 64 * 1024;

export function buildApp() {
  const app = new OpenAPIHono<AppEnv>();

  // Request id and trace first, so every answer (errors included) carries them.
  app.use("*", observe);

  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new AppError("payload_too_large", `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`, { limitBytes: MAX_BODY_BYTES });
    },
  });
  // A restore streams a whole backup (tens of MB) row by row; every other body is small.
  app.use("/api/*", (c, next) => (c.req.path === RESTORE_PATH ? next() : limitBody(c, next)));

  // Routes declare who may call them (publicRoute, streamTokenRoute); every other route needs bearer credentials.
  app.use("/api/v1/*", authenticate);
  // After auth, so each credential has its own bucket (public and stream-token requests have none and are not charged).
  app.use("/api/v1/*", rateLimit);
  // After auth, so an anonymous caller learns nothing from its body; before any handler walks the value.
  app.use("/api/*", (c, next) => (c.req.path === RESTORE_PATH ? next() : limitJsonDepth(c, next)));

  const v1 = new OpenAPIHono<AppEnv>();
  v1.route("/", healthRouter);
  v1.route("/agents", agentsRouter);
  v1.route("/execute", executeRouter);
  v1.route("/runs", runsRouter);
  v1.route("/models", modelsRouter);
  v1.route("/messages", messagesRouter);
  v1.route("/dead-letters", deadLettersRouter);
  v1.route("/topics", topicsRouter);
  v1.route("/keys", keysRouter);
  v1.route("/squads", squadsRouter);
  v1.route("/workflows", workflowsRouter);
  v1.route("/metrics", metricsRouter);
  v1.route("/", streamRouter);
  // Full paths (/suites, /agents/{id}/evolution, /evolution/...) after agentsRouter, whose routes they do not overlap.
  v1.route("/", suitesRouter);
  v1.route("/", evolutionRouter);
  v1.route("/", awsRouter);
  v1.route("/", backupRouter);
  app.route("/api/v1", v1);

  v1.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key (tdk_…) or a JWT",
  });
  app.get("/api/v1/openapi.json", publicRoute, (c) =>
    c.json(
      v1.getOpenAPI31Document({
        openapi: "3.1.0",
        info: { title: "T-Developer Edge API", version: c.env.BUILD_VERSION ?? "dev", description: "Control plane for self-evolving agents." },
        servers: [{ url: "/api/v1" }],
      }),
    ),
  );
  app.get("/api/v1/docs", publicRoute, (c) => c.html(docsPage));
  app.get("/", (c) => c.redirect("/api/v1/docs"));

  app.notFound((c) => problemResponse(new AppError("not_found", `No route for ${c.req.method} ${c.req.path}.`), c.get("requestId")));
  app.onError(renderError);
  return app;
}
