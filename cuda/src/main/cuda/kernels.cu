// The one compilation unit of the fatbin: every op family's kernels (see each file's header).
#include "norm.cu"
#include "elementwise.cu"
#include "rows.cu"
#include "rope.cu"
#include "gemv.cu"
#include "attention.cu"
#include "sample.cu"
