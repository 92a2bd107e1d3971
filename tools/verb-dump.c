// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "smemctl.h"
#include "smemkit/region.h"
#include "smemkit/rm.h"

static const char usage[] =
	"usage: smemctl dump [--socket PATH] FILE\n"
	"Write smemd's whole image to FILE (- for standard output) as one file in the\n"
	"format of the Linux qcom_smem driver, for smemctl ls, fsck and decode.\n"
	"Needs smemd's uid or root. PATH defaults to $SMEMKIT_RM_SOCKET, else smemd's\n"
	"default socket.\n";

enum { O_SOCKET = OPT_VERB_FIRST };

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int verb_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_OPTIONS,
		{ "socket", required_argument, NULL, O_SOCKET },
		{ 0 },
	};
	struct common c = COMMON_INIT("dump", usage);
	struct smem_region *img;
	const char *sock = NULL;
	struct smem_rm *rm;
	bool out_stdout;
	int r, fd;

	OPTIONS_BEGIN(c, longopts)
	case O_SOCKET:
		sock = optarg;
		break;
	OPTIONS_END(c)
	if (!strcmp(c.image, DEFAULT_IMAGE))
		return usage_error(c.verb, "needs the FILE to write (- for standard output)"),
		       EXIT_USAGE;
	out_stdout = !strcmp(c.image, "-");
	if (out_stdout && isatty(STDOUT_FILENO))
		return usage_error(c.verb, "will not write an image to a terminal"), EXIT_USAGE;
	r = smem_rm_connect(sock, -1, &rm);
	if (r < 0)
		return fail("cannot reach smemd", r,
			    r == -ENOENT || r == -ECONNREFUSED ? "is smemd running? (--socket PATH)"
								: NULL);
	r = smem_rm_dump(rm, &img);
	smem_rm_close(rm);
	if (r < 0)
		return fail("smemd's image", r, r == -EPERM ? "only smemd's uid or root may dump" : NULL);
	fd = out_stdout ? STDOUT_FILENO : open(c.image, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		smem_region_close(img);
		return fail(c.image, r, NULL);
	}
	r = write_all(fd, smem_region_base(img), smem_region_size(img));
	if (!out_stdout && close(fd) < 0 && r == 0)
		r = -errno;
	smem_region_close(img);
	if (r < 0)
		return fail(c.image, r, "the file is incomplete");
	return EXIT_OK;
}
