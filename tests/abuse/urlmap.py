"""Every URL pattern of the site, read from the URLconf, so that a page added tomorrow is
checked by the abuse tests without anyone remembering to list it."""
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter, UUIDConverter


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name" or "" for unnamed patterns
    route: str  # the pattern text, e.g. "training/runs/<uuid:code>/"
    converters: tuple  # ((kwarg, converter class name), ...)
    view: object

    @property
    def params(self) -> dict:
        return dict(self.converters)

    @property
    def uuid_params(self) -> list[str]:
        return [name for name, kind in self.converters if kind == UUIDConverter.__name__]

    @property
    def int_params(self) -> list[str]:
        return [name for name, kind in self.converters if kind == IntConverter.__name__]

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/")


def _walk(patterns, prefix="", namespace="", converters=()):
    for pattern in patterns:
        own = tuple((k, type(v).__name__) for k, v in getattr(pattern.pattern, "converters", {}).items())
        if isinstance(pattern, URLResolver):
            ns = ":".join(filter(None, [namespace, pattern.namespace or ""]))
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns, converters + own)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else (pattern.name or "")
            yield Route(name=name, route=prefix + str(pattern.pattern), converters=converters + own,
                        view=pattern.callback)


def all_routes() -> list[Route]:
    seen, routes = set(), []
    for route in _walk(get_resolver().url_patterns):
        if (route.name, route.route) not in seen:
            seen.add((route.name, route.route))
            routes.append(route)
    return routes


def site_routes() -> list[Route]:
    """The routes students reach (the admin, django-rq's and Django's auth internals aside)."""
    return [r for r in all_routes() if not r.is_admin]


def build_path(route: Route, values: dict) -> str:
    """The concrete path of `route` with `values` for its parameters (strings are used as they are)."""
    from django.urls import reverse

    if route.name:
        return reverse(route.name, kwargs={k: values[k] for k in route.params})
    raise ValueError(f"unnamed route {route.route}")
