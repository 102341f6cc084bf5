/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The inner guest of `make check-qemu`: a multiboot (v1) program that QEMU
 * 10 loads with -kernel, so the migrated VM needs no OS image.
 *
 * It does what a driver in the migrated VM must do before the device may
 * write to its memory: it finds every edu function (1234:11e8, the assigned
 * mockdev device) on bus 0 through configuration mechanism #1 and turns on
 * memory decoding and bus mastering. It then paints guest RAM from
 * PATTERN_START to PATTERN_END with 0xa5 bytes, so that every page there
 * the device later writes (edu DMA writes zeros) shows in a memory dump,
 * reports on COM1 and halts with interrupts off: nothing in the VM changes
 * memory after that except the device.
 */
#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0
#define PATTERN_START	0x00400000	/* 4 MiB: above this program */
#define PATTERN_END	0x02400000	/* 36 MiB: what a test checks */
#define COM1		0x3f8

	.text
	.code32
	.align 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)	/* first 8 KiB */
	.globl _start
_start:
	cli
	movl	$stack_top, %esp
	movl	$msg_start, %esi
	call	puts

	xorl	%ebx, %ebx		/* device number on bus 0 */
	xorl	%edi, %edi		/* edu functions found */
1:	movl	%ebx, %eax
	shll	$11, %eax
	orl	$0x80000000, %eax	/* enable, bus 0, function 0, reg 0 */
	movw	$0xcf8, %dx
	outl	%eax, %dx
	movw	$0xcfc, %dx
	inl	%dx, %eax
	cmpl	$0x11e81234, %eax
	jne	2f
	movl	%ebx, %eax
	shll	$11, %eax
	orl	$0x80000004, %eax	/* command register */
	movw	$0xcf8, %dx
	outl	%eax, %dx
	movw	$0xcfc, %dx
	inw	%dx, %ax
	orw	$0x0006, %ax		/* memory space, bus master */
	outw	%ax, %dx
	incl	%edi
2:	incl	%ebx
	cmpl	$32, %ebx
	jb	1b

	movl	$PATTERN_START, %edx
	movl	%edi, %ebx
	movl	%edx, %edi
	movl	$(PATTERN_END - PATTERN_START) / 4, %ecx
	movl	$0xa5a5a5a5, %eax
	cld
	rep stosl

	movl	$msg_ready, %esi
	call	puts
	movl	%ebx, %eax
	addb	$'0', %al
	call	putc
	movl	$msg_tail, %esi
	call	puts
3:	hlt
	jmp	3b

/* %esi: NUL-terminated string */
puts:
	lodsb
	testb	%al, %al
	jz	4f
	call	putc
	jmp	puts
4:	ret

/* %al: character; waits for the transmitter holding register */
putc:
	pushl	%eax
	movw	$COM1 + 5, %dx
5:	inb	%dx, %al
	testb	$0x20, %al
	jz	5b
	popl	%eax
	movw	$COM1, %dx
	outb	%al, %dx
	ret

	.section .rodata
msg_start:	.asciz "MDV-INNER: start\n"
msg_ready:	.asciz "MDV-INNER: ready, bus master on edu functions: "
msg_tail:	.asciz "\n"

	.bss
	.align 16
	.space 4096
stack_top:
