/*
 * quant.h - the header of int8 inference code (nncc --infer --quantize
 * int8), used by compiler/export_int8.c with export.h's guard and
 * extern "C" brackets: the sizes, the logits' scale and the API.
 */

//@ section macros
#include <stdint.h>

#define {{U}}_INPUTS {{INPUTS}} /* raw 0..255 pixels per sample */
#define {{U}}_OUTPUTS {{OUTPUTS}} /* classes */
/* score[i] = {{U}}_LOGIT_SCALE * logit[i] ({{SCALE_DEC}}) */
#define {{U}}_LOGIT_SCALE {{SCALE}}

//@ section decls
#ifdef __cplusplus
extern "C" {
#endif

/* The int32 logits of raw 0..255 pixels (the softmax's input, in steps of
 * {{U}}_LOGIT_SCALE). */
void {{P}}_logits_u8(const unsigned char pixels[{{U}}_INPUTS], int32_t logits[{{U}}_OUTPUTS]);
/* The predicted class: the argmax of the logits. */
int {{P}}_predict_u8(const unsigned char pixels[{{U}}_INPUTS]);

//@ section decls_float
/* out = the class probabilities (softmax of the dequantised logits). */
void {{P}}_forward_u8(const unsigned char pixels[{{U}}_INPUTS], float out[{{U}}_OUTPUTS]);
/* The same for inputs normalised as in training, mapped back to pixels first. */
void {{P}}_forward(const float in[{{U}}_INPUTS], float out[{{U}}_OUTPUTS]);
int {{P}}_predict(const float in[{{U}}_INPUTS]);
