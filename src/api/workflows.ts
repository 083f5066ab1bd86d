import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { planWorkflow } from "../workflow/dag";
import { workflowSchema, type Workflow } from "../workflow/definition";
import { isYamlContentType, parseWorkflow, parseYamlDocument } from "../workflow/parse";
import { getWorkflow, listWorkflows, listWorkflowVersions, saveWorkflow, workflowDb, workflowDetail } from "../workflow/store";
import { newRouter } from "./factory";
import { requireReadOrRun } from "./middleware/auth";
import { bearer, commonErrors, json, notFound, pageOf, pageQuery } from "./openapi-common";

/** Workflow definitions (JSON or YAML). Scopes: squads:run to store one; agents:read to read or validate. */
export const workflowsRouter = newRouter();

workflowsRouter.use("*", requireReadOrRun(/\/workflows\/validate$/));

const tags = ["workflows"];

/** JSON bodies are validated by the route; YAML bodies are parsed here and validated with the same schema. */
const workflowBody = {
  required: false,
  content: {
    "application/json": { schema: workflowSchema },
    "application/yaml": { schema: z.string().openapi({ description: "The same document in YAML" }) },
    "text/yaml": { schema: z.string() },
  },
};

async function readWorkflow(c: Context<AppEnv>, validatedJson: unknown): Promise<Workflow> {
  if (isYamlContentType(c.req.header("content-type"))) return parseWorkflow(parseYamlDocument(new TextDecoder().decode(await c.req.arrayBuffer())));
  return parseWorkflow(validatedJson);
}

const summarySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    version: z.number().int(),
    description: z.string(),
    stepCount: z.number().int(),
    contentHash: z.string(),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .openapi("WorkflowSummary");

const detailSchema = summarySchema.extend({ definition: workflowSchema, levels: z.array(z.array(z.string())) }).openapi("WorkflowVersion");
const nameParam = z.object({ name: workflowSchema.shape.name.openapi({ param: { name: "name", in: "path" } }) });

workflowsRouter.openapi(
  createRoute({
    method: "post",
    path: "/validate",
    tags,
    security: bearer,
    summary: "Validate a workflow and return its plan without storing it",
    request: { body: workflowBody },
    responses: {
      200: json(
        z.object({ levels: z.array(z.array(z.string())), stepCount: z.number().int() }).openapi("WorkflowPlan"),
        "levels[i]: steps whose longest dependency chain has i steps",
      ),
      ...commonErrors,
    },
  }),
  async (c) => {
    const wf = await readWorkflow(c, c.req.valid("json"));
    return c.json({ levels: planWorkflow(wf).levels, stepCount: wf.steps.length }, 200);
  },
);

workflowsRouter.openapi(
  createRoute({
    method: "post",
    path: "/",
    tags,
    security: bearer,
    summary: "Store a workflow (JSON or YAML) as the next version of its name",
    request: { body: workflowBody },
    responses: { 201: json(detailSchema, "Stored as a new version"), 200: json(detailSchema, "Identical to the latest version"), ...commonErrors },
  }),
  async (c) => {
    const wf = await readWorkflow(c, c.req.valid("json"));
    const { created, workflow } = await saveWorkflow(workflowDb(c.env.DB), wf, c.get("principal").id);
    c.header("location", `/api/v1/workflows/${workflow.name}?version=${workflow.version}`);
    return c.json(workflow, created ? 201 : 200);
  },
);

workflowsRouter.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags,
    security: bearer,
    summary: "List workflows (latest version of each), by name",
    request: { query: pageQuery },
    responses: { 200: json(pageOf(summarySchema, "WorkflowPage"), "A page of workflows"), ...commonErrors },
  }),
  async (c) => c.json(await listWorkflows(workflowDb(c.env.DB), c.req.valid("query")), 200),
);

workflowsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{name}",
    tags,
    security: bearer,
    summary: "Get a workflow version (default: the latest) with its plan",
    request: { params: nameParam, query: z.object({ version: z.coerce.number().int().min(1).optional() }) },
    responses: { 200: json(detailSchema, "The workflow"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const { version } = c.req.valid("query");
    return c.json(workflowDetail(await getWorkflow(workflowDb(c.env.DB), name, version)), 200);
  },
);

workflowsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{name}/versions",
    tags,
    security: bearer,
    summary: "List a workflow's versions, newest first",
    request: { params: nameParam, query: pageQuery },
    responses: { 200: json(pageOf(summarySchema, "WorkflowVersionPage"), "A page of versions"), ...commonErrors, ...notFound },
  }),
  async (c) => c.json(await listWorkflowVersions(workflowDb(c.env.DB), c.req.valid("param").name, c.req.valid("query")), 200),
);
