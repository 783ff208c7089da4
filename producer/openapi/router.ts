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
  router.use('/docs', swaggerUi.serve, swaggerUi.setup(spec, { customSiteTitle: 'Notification pipeline API' }));
  return router;
}
