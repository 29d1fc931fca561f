/*
 * nncc_act.h - the activation functions, one row each: the one definition
 * that the compiler (names, the exporter's expressions), the generated
 * trainers (through nncc_simd.h) and the docs all come from.
 *
 * X(ID, name, f(x), f'(y), gain): ID is the enum constant's suffix (ACT_ID),
 * name the YAML word, f(x) the activation as an expression in x, f'(y) its
 * derivative written in terms of the OUTPUT y = f(x), so the backward pass
 * needs only the stored activations, and gain the initialisation schemes'
 * factor for it (torch.nn.init.calculate_gain, a double constant).  The expressions use the generated
 * code's `real`, EXP, TANH and FMA; a multiply-add is always an explicit FMA
 * (the floating-point policy, docs/performance.md), and an expression with
 * a comma is parenthesised.  Adding an activation = a row here, optionally
 * a vector form in nncc_simd.h (else it runs lane by lane, bit-identical),
 * and the reference's own formula (tests/reference/ref.c).
 */
#ifndef NNCC_ACT_H
#define NNCC_ACT_H

#define NNCC_ACTIVATIONS(X)                                                         \
	X(LINEAR, linear, x, (real)1, 1.0)                                             \
	X(SIGMOID, sigmoid, (real)1 / ((real)1 + EXP(-x)), y * ((real)1 - y), 1.0)       \
	X(TANH, tanh, TANH(x), (FMA(-y, y, (real)1)), 5.0 / 3)                         \
	X(RELU, relu, x > (real)0 ? x : (real)0, y > (real)0 ? (real)1 : (real)0,        \
	  1.4142135623730951) /* sqrt 2 */

#endif
