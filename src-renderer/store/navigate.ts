// Moving between screens: the route is the location hash (see routes.ts).
import { routeHash, type Route } from './routes';

export function navigate(route: Route): void {
  const hash = routeHash(route);
  if (location.hash !== hash) location.hash = hash;
}
