// SPDX-License-Identifier: GPL-2.0
/*
 * smem_test_mod - drive the real qcom_smem driver for smemkit's interop test.
 *
 * The test boots Linux on an SMEM region that smemkit wrote, loads this module
 * and later saves the region back to a file. The module does two things, both
 * through the driver's exported API only:
 *
 *  1. Look up items (get_hosts[i], get_items[i]) with qcom_smem_get() and
 *     report the size the driver sees, where the data lies (as an offset
 *     from the region base, via qcom_smem_virt_to_phys()) and its first bytes.
 *     The host compares these with what smemctl says about its own image.
 *  2. For each host in alloc_hosts, qcom_smem_alloc() item alloc_item with
 *     alloc_size bytes, ask qcom_smem_get() for the size the driver now
 *     reports and fill exactly that many bytes with byte k = seed + k, where
 *     seed = 0xa0 for QCOM_SMEM_HOST_ANY (-1) and 0xb0 + host otherwise.
 *     The host then reads the item back with smemctl from the saved region.
 *
 * Every result is one kernel log line starting with "smemtest: "; the guest's
 * init script forwards them to the console. A line "smemtest: done ok" (or
 * "done fail") ends the report. Loading always succeeds so that the log tells
 * the whole story.
 */
#include <linux/err.h>
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/soc/qcom/smem.h>

static unsigned long long base = 0x50000000;
module_param(base, ullong, 0444);
MODULE_PARM_DESC(base, "physical base of the SMEM region (offsets are reported from it)");

static int get_hosts[8];
static int n_get_hosts;
module_param_array(get_hosts, int, &n_get_hosts, 0444);
MODULE_PARM_DESC(get_hosts, "hosts of the items to look up (-1 = any)");

static uint get_items[8];
static int n_get_items;
module_param_array(get_items, uint, &n_get_items, 0444);
MODULE_PARM_DESC(get_items, "items to look up, one per entry of get_hosts");

static int alloc_hosts[8];
static int n_alloc_hosts;
module_param_array(alloc_hosts, int, &n_alloc_hosts, 0444);
MODULE_PARM_DESC(alloc_hosts, "hosts to allocate alloc_item for (-1 = any)");

static uint alloc_item = 478;
module_param(alloc_item, uint, 0444);
MODULE_PARM_DESC(alloc_item, "item to allocate and fill");

static uint alloc_size = 100;
module_param(alloc_size, uint, 0444);
MODULE_PARM_DESC(alloc_size, "requested size of alloc_item");

static uint exists_item = 137;
module_param(exists_item, uint, 0444);
MODULE_PARM_DESC(exists_item, "item to allocate again, expecting -EEXIST (0 = skip)");

/* Report one item as the driver sees it; the data is WC-mapped I/O memory. */
static int smem_test_report(int host, unsigned int item)
{
	u8 head[32];
	size_t size = 0;
	void *p;

	p = qcom_smem_get((unsigned int)host, item, &size);
	if (IS_ERR(p)) {
		pr_info("smemtest: get host=%d item=%u err=%ld\n", host, item, PTR_ERR(p));
		return PTR_ERR(p);
	}
	memcpy_fromio(head, (void __iomem __force *)p, min(size, sizeof(head)));
	pr_info("smemtest: get host=%d item=%u size=%zu offset=0x%llx head=%*phN\n", host, item,
		size, (unsigned long long)(qcom_smem_virt_to_phys(p) - base),
		(int)min(size, sizeof(head)), head);
	return 0;
}

static int smem_test_alloc_fill(int host)
{
	unsigned int h = (unsigned int)host;
	u8 seed = host < 0 ? 0xa0 : (u8)(0xb0 + host);
	size_t size = 0, k;
	void *p;
	u8 *buf;
	int ret;

	ret = qcom_smem_alloc(h, alloc_item, alloc_size);
	pr_info("smemtest: alloc host=%d item=%u size=%u ret=%d\n", host, alloc_item, alloc_size,
		ret);
	if (ret)
		return ret;

	p = qcom_smem_get(h, alloc_item, &size);
	if (IS_ERR(p)) {
		pr_info("smemtest: get-after-alloc host=%d item=%u err=%ld\n", host, alloc_item,
			PTR_ERR(p));
		return PTR_ERR(p);
	}
	buf = kmalloc(size ? size : 1, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	for (k = 0; k < size; k++)
		buf[k] = (u8)(seed + k);
	memcpy_toio((void __iomem __force *)p, buf, size);
	kfree(buf);
	/* Make the pattern visible in memory before the host saves the region. */
	wmb();
	pr_info("smemtest: fill host=%d item=%u size=%zu offset=0x%llx seed=0x%02x\n", host,
		alloc_item, size, (unsigned long long)(qcom_smem_virt_to_phys(p) - base), seed);
	return 0;
}

static int __init smem_test_init(void)
{
	bool failed = false;
	int i, ret;

	if (!qcom_smem_is_available()) {
		pr_info("smemtest: smem not available\n");
		pr_info("smemtest: done fail\n");
		return 0;
	}
	if (n_get_hosts != n_get_items) {
		pr_info("smemtest: get_hosts and get_items differ in length\n");
		pr_info("smemtest: done fail\n");
		return 0;
	}

	for (i = 0; i < n_get_items; i++)
		failed |= smem_test_report(get_hosts[i], get_items[i]) != 0;

	if (exists_item) {
		ret = qcom_smem_alloc(QCOM_SMEM_HOST_ANY, exists_item, 16);
		pr_info("smemtest: realloc host=-1 item=%u ret=%d\n", exists_item, ret);
		failed |= ret != -EEXIST;
	}

	for (i = 0; i < n_alloc_hosts; i++)
		failed |= smem_test_alloc_fill(alloc_hosts[i]) != 0;

	pr_info("smemtest: done %s\n", failed ? "fail" : "ok");
	return 0;
}

static void __exit smem_test_exit(void)
{
}

module_init(smem_test_init);
module_exit(smem_test_exit);

MODULE_DESCRIPTION("smemkit interop test: exercise qcom_smem_get() and qcom_smem_alloc()");
MODULE_LICENSE("GPL");
