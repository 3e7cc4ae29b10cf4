/*
 * registry.c -- the fixed list of agent providers.
 *
 * The order here is the registry order used for agent lists in reports and
 * for discovery. Thread-safety: read-only data.
 */
#include "parsers/provider.h"

#include <string.h>

static const pd_provider *const registry[] = {
    &pd_provider_claude,
    &pd_provider_codex,
};

size_t pd_providers(const pd_provider *const **out)
{
    *out = registry;
    return sizeof registry / sizeof registry[0];
}

const pd_provider *pd_provider_find(const char *name)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    }
    return NULL;
}
