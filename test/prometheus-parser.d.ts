// parse-prometheus-text-format ships no types: families of samples, values as strings.
declare module "parse-prometheus-text-format" {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
