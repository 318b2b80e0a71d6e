/* mapfile.c: read-only mmap of a whole file with the checks every model reader needs. */
#include "core/vb.h"
#include "nn/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void say(char *why, size_t cap, const char *path, const char *what, int e)
{
    if (why && cap)
        snprintf(why, cap, "%s: %s%s%s", path, what, e ? ": " : "", e ? strerror(e) : "");
}

enum vb_err nn_map_file(const char *path, uint64_t min_size, uint64_t max_size, bool willneed,
                        struct nn_mapping *out, char *why, size_t why_cap)
{
    out->base = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        say(why, why_cap, path, "cannot open", e);
        return e == ENOENT ? VB_ERR_NOT_FOUND : VB_ERR_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < min_size ||
        (max_size && (uint64_t)sb.st_size > max_size) || (uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        if (why && why_cap)
            snprintf(why, why_cap,
                     "%s: not a regular file of a plausible size (at least %llu bytes)", path,
                     (unsigned long long)min_size);
        return VB_ERR_FORMAT;
    }
    size_t size = (size_t)sb.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) {
        say(why, why_cap, path, "mmap", size ? e : EINVAL);
        return VB_ERR_IO;
    }
    if (willneed)
        (void)madvise(map, size, MADV_WILLNEED);
    out->base = map;
    out->size = size;
    return VB_OK;
}

void nn_unmap_file(struct nn_mapping *m)
{
    if (m->base)
        munmap((void *)m->base, m->size);
    m->base = NULL;
    m->size = 0;
}
