//go:build !purego

#include "textflag.h"

// The masks of classify for each 64-byte block of a body (see classify.go), with AVX2.
// classifyAVX2 takes b (a multiple of 64 bytes long), blk (at least len(b)/64 long) and the escape
// carry of the block before, and returns the carry after. It leaves R14, R15 and X15 alone.

// Nibble tables of the characters of canonical two-byte escapes: " \ b f n r t. A byte is one of
// them when lo[its low nibble] & hi[its high nibble] != 0. Each table is repeated in both lanes.
DATA escLo<>+0(SB)/8, $0x00040008000d0000
DATA escLo<>+8(SB)/8, $0x0004000200000000
DATA escLo<>+16(SB)/8, $0x00040008000d0000
DATA escLo<>+24(SB)/8, $0x0004000200000000
GLOBL escLo<>(SB), RODATA|NOPTR, $32
DATA escHi<>+0(SB)/8, $0x0804020000010000
DATA escHi<>+8(SB)/8, $0x0000000000000000
DATA escHi<>+16(SB)/8, $0x0804020000010000
DATA escHi<>+24(SB)/8, $0x0000000000000000
GLOBL escHi<>(SB), RODATA|NOPTR, $32

// ESCAPES turns the backslashes DX into the escaped characters R13 (those after an odd run of
// backslashes), with the carry in R10 (after simdjson). Clobbers R11, R12.
#define ESCAPES \
	MOVQ R10, R11 \
	NOTQ R11 \
	ANDQ DX, R11 \
	MOVQ R11, R12 \
	SHLQ $1, R12 \
	MOVQ $0xaaaaaaaaaaaaaaaa, R13 \
	ORQ  R13, R12 \
	SUBQ R11, R12 \
	XORQ R13, R12 \
	MOVQ DX, R13 \
	ORQ  R10, R13 \
	XORQ R12, R13 \
	ANDQ DX, R12 \
	SHRQ $63, R12 \
	MOVQ R12, R10

// STORE writes the block at DI: the quotes AX not escaped, the escaped characters, and the
// control characters R8 with the escaped characters that are not canonical R9 & escaped.
#define STORE \
	MOVQ R13, R11 \
	NOTQ R11 \
	ANDQ AX, R11 \
	MOVQ R11, 0(DI) \
	MOVQ R13, 8(DI) \
	ANDQ R13, R9 \
	ORQ  R8, R9 \
	MOVQ R9, 16(DI)

// func classifyAVX2(b []byte, blk []block, carry uint64) uint64
TEXT ·classifyAVX2(SB), NOSPLIT, $0-64
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	MOVQ blk_base+24(FP), DI
	MOVQ carry+48(FP), R10
	SHRQ $6, CX
	JZ   done2
	MOVQ $0x2222222222222222, AX
	MOVQ AX, X8
	VPBROADCASTQ X8, Y8
	MOVQ $0x5c5c5c5c5c5c5c5c, AX
	MOVQ AX, X9
	VPBROADCASTQ X9, Y9
	MOVQ $0x1f1f1f1f1f1f1f1f, AX
	MOVQ AX, X10
	VPBROADCASTQ X10, Y10
	MOVQ $0x0f0f0f0f0f0f0f0f, AX
	MOVQ AX, X11
	VPBROADCASTQ X11, Y11
	VMOVDQU escLo<>(SB), Y12
	VMOVDQU escHi<>(SB), Y13
	VPXOR   Y14, Y14, Y14

loop2:
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1

	VPCMPEQB  Y8, Y0, Y2
	VPMOVMSKB Y2, AX
	VPCMPEQB  Y8, Y1, Y3
	VPMOVMSKB Y3, BX
	SHLQ      $32, BX
	ORQ       BX, AX

	VPCMPEQB  Y9, Y0, Y2
	VPMOVMSKB Y2, DX
	VPCMPEQB  Y9, Y1, Y3
	VPMOVMSKB Y3, BX
	SHLQ      $32, BX
	ORQ       BX, DX

	VPMINUB   Y10, Y0, Y2
	VPCMPEQB  Y0, Y2, Y2
	VPMOVMSKB Y2, R8
	VPMINUB   Y10, Y1, Y3
	VPCMPEQB  Y1, Y3, Y3
	VPMOVMSKB Y3, BX
	SHLQ      $32, BX
	ORQ       BX, R8

	VPSRLW    $4, Y0, Y2
	VPAND     Y11, Y2, Y2
	VPSHUFB   Y2, Y13, Y2
	VPAND     Y11, Y0, Y3
	VPSHUFB   Y3, Y12, Y3
	VPAND     Y2, Y3, Y2
	VPCMPEQB  Y14, Y2, Y2
	VPMOVMSKB Y2, R9
	VPSRLW    $4, Y1, Y2
	VPAND     Y11, Y2, Y2
	VPSHUFB   Y2, Y13, Y2
	VPAND     Y11, Y1, Y3
	VPSHUFB   Y3, Y12, Y3
	VPAND     Y2, Y3, Y2
	VPCMPEQB  Y14, Y2, Y2
	VPMOVMSKB Y2, BX
	SHLQ      $32, BX
	ORQ       BX, R9

	ESCAPES
	STORE

	ADDQ $64, SI
	ADDQ $24, DI
	DECQ CX
	JNZ  loop2
	VZEROUPPER

done2:
	MOVQ R10, ret+56(FP)
	RET
