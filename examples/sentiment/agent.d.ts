declare const agent: { run(input: unknown, ctx: { params: Record<string, unknown> }): Promise<{ label: string; score: number }> };
export default agent;
