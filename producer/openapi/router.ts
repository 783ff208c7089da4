import { Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { loadOpenApi } from './document.js';

/** GET /openapi.json (docs/openapi.yaml as JSON) and /docs (Swagger UI over it). */
export function openApiRouter(): Router {
  const spec = loadOpenApi();
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(spec);
  });
  // The page is a GET route (so other methods are a 405, producer/method-not-allowed.ts); its
  // assets are static files under /docs/, which also redirects /docs to /docs/ (301).
  router.use('/docs', swaggerUi.serve);
  router.get('/docs', swaggerUi.setup(spec, { customSiteTitle: 'Notification pipeline API' }));
  return router;
}
