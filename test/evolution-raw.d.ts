// Vite's `?raw` imports give a file's text: the example agent's code is read the way it ships.
declare module "*?raw" {
  const text: string;
  export default text;
}
