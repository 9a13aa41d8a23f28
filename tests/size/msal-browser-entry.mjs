// The incumbent measured the same way as graphgate's module: @azure/msal-browser's sign-in class,
// bundled and minified for the browser, then gzip -9.
import { PublicClientApplication } from "@azure/msal-browser";
export { PublicClientApplication };
