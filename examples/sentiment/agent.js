// An evolvable code agent: a sentiment classifier whose behaviour lives entirely in its params —
// one weight per keyword (`w_<word>`) and a threshold. Evolution tunes the params; the code stays.
export default {
  async run(input, ctx) {
    const params = ctx.params;
    const words =
      String(input?.text ?? "")
        .toLowerCase()
        .match(/[a-z]+/g) ?? [];
    let score = 0;
    for (const word of words) {
      const weight = params[`w_${word}`];
      if (typeof weight === "number") score += weight;
    }
    return { label: score > params.threshold ? "positive" : "negative", score };
  },
};
