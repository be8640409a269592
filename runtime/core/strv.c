/* See strv.h. */
#include <string.h>

#include "runtime/core/common.h"
#include "runtime/core/strv.h"

void sb_strv_push(struct sb_strv *sv, char *s)
{
	sv->v = sb_xgrow(sv->v, &sv->alloc, sv->n + 2, sizeof(*sv->v));
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void sb_strv_release(struct sb_strv *sv)
{
	sb_strv_free(sv->v, sv->n);
	memset(sv, 0, sizeof(*sv));
}

void sb_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
