/*
 * export.h - the exported inference header (nncc --infer), used by
 * compiler/export.c: include guard, sizes and the public API.  In the split
 * form the .c file defines the functions; with --header-only the code from
 * export.c follows the macros and there are no prototypes.  {{P}} = network
 * name, {{U}} = the same in upper case, {{REAL}} = float or double.
 */

//@ section guard_begin
#ifndef {{U}}_INFER_H
#define {{U}}_INFER_H

//@ section macros
#define {{U}}_INPUTS {{INPUTS}} /* input values (pixels) per sample */
#define {{U}}_OUTPUTS {{OUTPUTS}} /* classes */
#define {{U}}_WORKSPACE_SIZE {{WORKSPACE}} /* {{REAL}}s of scratch: the activation buffers */

typedef {{REAL}} {{P}}_real; /* the network's number type */

//@ section decls
#ifdef __cplusplus
extern "C" {
#endif

/* out = class probabilities for one input normalised as in training. */
void {{P}}_forward(const {{REAL}} in[{{U}}_INPUTS], {{REAL}} out[{{U}}_OUTPUTS]);
/* The same, with the caller's scratch instead of the stack. */
void {{P}}_forward_workspace(const {{REAL}} in[{{U}}_INPUTS], {{REAL}} out[{{U}}_OUTPUTS],
	{{REAL}} scratch[{{U}}_WORKSPACE_SIZE]);
/* forward from raw 0..255 pixels; applies the training normalisation. */
void {{P}}_forward_u8(const unsigned char pixels[{{U}}_INPUTS], {{REAL}} out[{{U}}_OUTPUTS]);
/* The predicted class: the argmax of the softmax's input (the softmax is skipped). */
int {{P}}_predict(const {{REAL}} in[{{U}}_INPUTS]);
int {{P}}_predict_workspace(const {{REAL}} in[{{U}}_INPUTS], {{REAL}} scratch[{{U}}_WORKSPACE_SIZE]);
/* predict from raw 0..255 pixels; applies the training normalisation. */
int {{P}}_predict_u8(const unsigned char pixels[{{U}}_INPUTS]);
/* x = the training normalisation of raw pixels (bit-for-bit as the trainer). */
void {{P}}_normalize_u8({{REAL}} x[{{U}}_INPUTS], const unsigned char pixels[{{U}}_INPUTS]);

//@ section decl_normalize
/* x = the training normalisation of raw feature values (standardize_features). */
void {{P}}_normalize(const double raw[{{U}}_INPUTS], {{REAL}} x[{{U}}_INPUTS]);

//@ section decl_class_name
/* The name of class k (what _predict returns) in the training data, or NULL
 * for a k that is not a class. */
const char *{{P}}_class_name(int k);

//@ section decls_end
#ifdef __cplusplus
}
#endif

//@ section guard_end
#endif
