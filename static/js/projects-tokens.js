// API tokens (personal and a project's pipeline tokens): copy a new secret with one click (or
// select it on focus), and confirm a revoke.
import { confirmForms } from "./projects-confirm.js";
import { secretCopy } from "./secret-copy.js";

confirmForms();
secretCopy();
