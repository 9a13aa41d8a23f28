// The pair a page ships today to sign in and call Graph, measured the same way as graphgate's
// module: @azure/msal-browser's sign-in class and the Graph SDK's client, bundled and minified
// together for the browser, then gzip -9.
import { PublicClientApplication } from "@azure/msal-browser";
import { Client } from "@microsoft/microsoft-graph-client";
export { PublicClientApplication, Client };
